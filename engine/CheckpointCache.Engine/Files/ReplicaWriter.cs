namespace CheckpointCache.Engine.Files;

/// <summary>
/// A copy of a version made on another node, being written under a hidden name. <see cref="CompleteAsync"/> commits
/// it and renames it into place with the origin's stamp; disposing an unfinished one removes it, so a cut stream or
/// a failed checksum leaves nothing behind and never wrong bytes.
/// </summary>
public sealed class ReplicaWriter : IAsyncDisposable
{
    private readonly FileTree _tree;
    private readonly string _temp;
    private readonly FileSession _session;
    private bool _finished;

    internal ReplicaWriter(FileTree tree, string path, string temp, FileStamp stamp, FileSession session)
    {
        _tree = tree;
        Path = path;
        _temp = temp;
        Stamp = stamp;
        _session = session;
    }

    public string Path { get; }
    public FileStamp Stamp { get; }

    public Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) => _session.WriteAsync(offset, data, cancellationToken);

    /// <summary>Commits the copy and puts it in place; false when a version as new arrived meanwhile (the copy is dropped).</summary>
    public async Task<bool> CompleteAsync(long size, CancellationToken cancellationToken = default)
    {
        if (_session.Size != size) await _session.TruncateAsync(size, cancellationToken).ConfigureAwait(false);
        await _session.CloseAsync(commit: true, cancellationToken).ConfigureAwait(false);
        bool installed = await _tree.InstallReplicaAsync(_temp, Path, Stamp, cancellationToken).ConfigureAwait(false);
        if (!installed) await RemoveTempAsync().ConfigureAwait(false);
        _finished = true;
        return installed;
    }

    private async Task RemoveTempAsync()
    {
        try { await _tree.DeleteAsync(_temp, cancellationToken: CancellationToken.None).ConfigureAwait(false); }
        catch (FilesException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (_finished) return;
        _finished = true;
        await _session.CloseAsync(commit: false, CancellationToken.None).ConfigureAwait(false);
        await RemoveTempAsync().ConfigureAwait(false);
    }
}
