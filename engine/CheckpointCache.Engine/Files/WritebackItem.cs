namespace CheckpointCache.Engine.Files;

internal enum WritebackKind { Upload, RemoteDelete }

/// <summary>One unit of writeback work: upload a file (by id) under its path, or delete a stale remote copy.</summary>
internal sealed record WritebackItem(WritebackKind Kind, long FileId, string Path, long Size)
{
    public string Key => Kind == WritebackKind.Upload ? "u" + FileId : "d" + Path;
}
