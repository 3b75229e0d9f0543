namespace CheckpointCache.Engine.Files;

/// <summary>
/// One committed version of a file opened for copying: its path and stamp as of the open, and a read-only session
/// that keeps reading exactly that version even if the file is replaced meanwhile. Dispose closes the session.
/// </summary>
public sealed class CommittedFile(FileSession session, string path, FileStamp stamp) : IAsyncDisposable
{
    public string Path { get; } = path;
    public FileStamp Stamp { get; } = stamp;
    public long Size => Session.Size;
    public FileSession Session { get; } = session;

    public ValueTask DisposeAsync() => new(Session.CloseAsync(commit: false));
}
