using FASTER.core;

namespace CheckpointCache.Engine.Devices;

/// <summary>
/// One large read cut into pieces that run on several I/O threads at once, for disks that serve more bytes per second
/// with more I/Os in flight than a handful of concurrent large gets keep there (off by default: on the virtual disk of
/// docs/performance.md it did not raise the node's GET rate). The original request completes once, after its last
/// piece, with the first real error of any piece.
/// </summary>
internal sealed class SplitRead
{
    private readonly IoRequest _whole;
    private int _pending;
    private int _error;
    private long _bytes;

    private SplitRead(in IoRequest whole, int pieces)
    {
        _whole = whole;
        _pending = pieces;
    }

    /// <summary>The pieces of <paramref name="whole"/>, each at most <paramref name="pieceBytes"/> (a sector multiple).</summary>
    public static IoRequest[] Cut(in IoRequest whole, uint pieceBytes, DeviceIOCompletionCallback pieceDone)
    {
        int count = (int)((whole.Length + pieceBytes - 1) / pieceBytes);
        var join = new SplitRead(whole, count);
        var pieces = new IoRequest[count];
        for (int i = 0; i < count; i++)
        {
            uint offset = (uint)i * pieceBytes;
            uint length = Math.Min(pieceBytes, whole.Length - offset);
            pieces[i] = whole with
            {
                Offset = whole.Offset + offset,
                Buffer = whole.Buffer + (nint)offset,
                Length = length,
                Callback = pieceDone,
                Context = join,
                IsPiece = true,
            };
        }
        return pieces;
    }

    /// <summary>Records one piece; returns the whole request and its outcome when this was the last piece.</summary>
    /// <remarks>
    /// A piece wholly past the end of the file reads as zeros (<see cref="IoRequest.IsPiece"/>), as that part of the
    /// read would if it were not cut; the whole read is ENODATA only when no piece found anything.
    /// </remarks>
    public static bool PieceDone(object context, uint error, uint bytes, out IoRequest whole, out uint wholeError, out uint wholeBytes)
    {
        var join = (SplitRead)context;
        if (error != 0) Interlocked.CompareExchange(ref join._error, (int)error, 0);
        else Interlocked.Add(ref join._bytes, bytes);

        whole = join._whole;
        if (Interlocked.Decrement(ref join._pending) != 0)
        {
            wholeError = wholeBytes = 0;
            return false;
        }
        int firstError = Volatile.Read(ref join._error);
        wholeBytes = (uint)Interlocked.Read(ref join._bytes);
        wholeError = (uint)(firstError != 0 ? firstError : wholeBytes == 0 ? Libc.ENODATA : 0);
        return true;
    }
}
