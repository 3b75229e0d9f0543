using System.Buffers;

namespace CheckpointCache.Mount.FileSystem;

/// <summary>
/// Read-ahead for one read-only handle. With direct_io the kernel sends reads one at a time and
/// does no read-ahead of its own, so a sequential reader would wait a node round trip per MiB.
/// After two sequential reads, windows of half of Mount:ReadAheadBytes are fetched ahead (two in
/// flight); a random read fetches just what it asked for. With <paramref name="readAheadBytes"/> 0
/// (a handle in the kernel's page cache, which reads ahead itself) every read fetches just what it asked for.
/// Either way the node writes into a shared slot when one is free, never into the caller's buffer.
/// </summary>
/// <param name="fetch">Reads file bytes at an offset into memory from the node (<see cref="OpenFile.FetchAsync"/>).</param>
internal sealed class ReadAhead(Func<long, Memory<byte>, Task<int>> fetch, int readAheadBytes, SharedSlots slots) : IDisposable
{
    private sealed class Window(long offset, int length, Memory<byte> buffer, SharedSlot? slot, byte[]? array, Task<int> fill)
    {
        public long Offset { get; } = offset;
        public int Length { get; } = length;
        public Memory<byte> Buffer { get; } = buffer;
        /// <summary>Where the buffer came from: a shared slot (the node fills it directly) or the array pool.</summary>
        public SharedSlot? Slot { get; } = slot;
        public byte[]? Array { get; } = array;
        public Task<int> Fill { get; } = fill;
        public long End => Offset + Length;
        /// <summary>Readers copying out of the buffer; it goes back to the pool when dropped and unused.</summary>
        public int Users { get; set; }
        public bool Dropped { get; set; }
    }

    private readonly object _lock = new();
    private readonly List<Window> _windows = [];
    private readonly int _windowBytes = Math.Max(1024 * 1024, readAheadBytes / 2);
    private long _lastEnd = -1;
    private int _sequential;
    private bool _disposed;

    public async Task<int> ReadAsync(long offset, Memory<byte> destination)
    {
        if (readAheadBytes <= 0) return await FetchExactAsync(offset, destination).ConfigureAwait(false);
        int total = 0;
        while (total < destination.Length)
        {
            long position = offset + total;
            Window? window;
            lock (_lock)
            {
                if (position == _lastEnd) _sequential++;
                else if (total == 0) _sequential = 0;
                window = _windows.FirstOrDefault(w => w.Offset <= position && position < w.End);
                if (window is null)
                {
                    if (_sequential < 2 && total == 0)
                    {
                        _lastEnd = position + destination.Length;
                        window = null;
                    }
                    else
                    {
                        window = Start(position, Math.Max(_windowBytes, destination.Length - total));
                    }
                }
                if (window is not null && _sequential >= 2 && !_windows.Any(w => w.Offset == window.End))
                    Start(window.End, _windowBytes);
                // Windows wholly behind the reader are done with.
                foreach (var old in _windows.Where(w => w.End <= position && w != window).ToList()) Drop(old);
                if (window is not null) window.Users++;
            }
            if (window is null)
            {
                // A random read: fetch exactly what was asked.
                return await FetchExactAsync(offset, destination).ConfigureAwait(false);
            }
            int filled, n;
            try
            {
                filled = await window.Fill.ConfigureAwait(false);
                int at = (int)(position - window.Offset);
                n = Math.Min(destination.Length - total, filled - at);
                if (n > 0) window.Buffer.Span.Slice(at, n).CopyTo(destination.Span[total..]);
            }
            catch
            {
                lock (_lock) { Release(window); Drop(window); }
                throw;
            }
            lock (_lock) Release(window);
            if (n <= 0) break; // the end of the file
            total += n;
            lock (_lock) _lastEnd = offset + total;
            if (filled < window.Length) break; // the window reached the end of the file
        }
        return total;
    }

    /// <summary>
    /// Fetches just <paramref name="destination"/>, through a free shared slot when there is one: the node then writes
    /// into memory both processes keep mapped and warm, instead of sending the bytes through the socket.
    /// </summary>
    private async Task<int> FetchExactAsync(long offset, Memory<byte> destination)
    {
        var slot = destination.Length <= slots.SlotBytes ? slots.TryRent() : null;
        if (slot is null) return await fetch(offset, destination).ConfigureAwait(false);
        int n;
        try
        {
            n = await fetch(offset, slot.Memory[..destination.Length]).ConfigureAwait(false);
        }
        catch (Exception e) when (!SharedSlots.NodeAnswered(e))
        {
            slots.Retire(slot);
            throw;
        }
        catch
        {
            slots.Return(slot);
            throw;
        }
        // The node answered: it no longer writes into the slot.
        slot.Memory.Span[..n].CopyTo(destination.Span);
        slots.Return(slot);
        return n;
    }

    private Window Start(long offset, int length)
    {
        var slot = length <= slots.SlotBytes ? slots.TryRent() : null;
        var array = slot is null ? ArrayPool<byte>.Shared.Rent(length) : null;
        var buffer = slot is not null ? slot.Memory[..length] : array.AsMemory(0, length);
        var window = new Window(offset, length, buffer, slot, array, fetch(offset, buffer));
        _windows.Add(window);
        return window;
    }

    private void Drop(Window window)
    {
        if (window.Dropped) return;
        window.Dropped = true;
        _windows.Remove(window);
        if (window.Users == 0) ReturnWhenFilled(window);
    }

    private void Release(Window window)
    {
        window.Users--;
        if (window.Dropped && window.Users == 0) ReturnWhenFilled(window);
    }

    // The buffer goes back only once the node's read has stopped writing into it, which a fill that failed without
    // the node's answer does not tell.
    private void ReturnWhenFilled(Window window)
        => window.Fill.ContinueWith(fill =>
        {
            if (window.Slot is null) ArrayPool<byte>.Shared.Return(window.Array!);
            else if (fill.IsCompletedSuccessfully || SharedSlots.NodeAnswered(fill.Exception?.InnerException)) slots.Return(window.Slot);
            else slots.Retire(window.Slot);
        }, TaskScheduler.Default);

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var w in _windows.ToList()) Drop(w);
        }
    }
}
