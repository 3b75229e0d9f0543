using Microsoft.Win32.SafeHandles;

namespace CheckpointCache.Engine.Devices;

/// <summary>
/// One open segment file. The descriptor lives in a <see cref="SafeFileHandle"/> so that removing a
/// segment while an I/O on it is still running only defers the close: the I/O keeps a reference
/// (<see cref="TryAcquire"/>) and the descriptor is closed when the last user releases it.
/// </summary>
internal sealed class SegmentFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    public SegmentFile(int segment, string path, int fd)
    {
        Segment = segment;
        Path = path;
        _handle = new SafeFileHandle(fd, ownsHandle: true);
    }

    public int Segment { get; }
    public string Path { get; }

    /// <summary>Takes a reference on the descriptor; false if the segment was closed meanwhile.</summary>
    public bool TryAcquire(out int fd)
    {
        bool added = false;
        try
        {
            _handle.DangerousAddRef(ref added);
        }
        catch (ObjectDisposedException)
        {
        }
        fd = added ? (int)_handle.DangerousGetHandle() : -1;
        return added;
    }

    public void Release() => _handle.DangerousRelease();

    /// <summary>Current length of the file, or -errno.</summary>
    public long Length()
    {
        if (!TryAcquire(out int fd)) return -Libc.EIO;
        try
        {
            long end = Libc.LSeek(fd, 0, Libc.SEEK_END);
            return end < 0 ? -Libc.LastError : end;
        }
        finally
        {
            Release();
        }
    }

    public void Dispose() => _handle.Dispose();
}
