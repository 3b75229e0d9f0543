using CheckpointCache.Client.Files;
using CheckpointCache.Client.SharedMemory;
using CheckpointCache.Mount.FileSystem;
using CheckpointCache.Rpc.Files.V1;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;

namespace CheckpointCache.Mount.Tests;

/// <summary>
/// The mount's read path for one handle, against a fake node: which bytes are fetched, and where the node would
/// write them (a shared slot, so that no file byte crosses the socket, or the caller's buffer).
/// </summary>
public sealed class ReadAheadTests : IDisposable
{
    private const int MiB = 1024 * 1024;
    private const long FileBytes = 64L * MiB;
    private readonly SharedSlots _slots = SharedSlots.Allocate("readahead-test", 2 * MiB, 4, hugePages: false, NullLogger.Instance);
    private readonly List<(long Offset, int Length, bool Shared)> _fetches = [];

    public void Dispose() => _slots.Dispose();

    private static byte ByteAt(long position) => (byte)(position * 31 / 7);

    /// <summary>A node that fills the destination with the file's bytes and records each call.</summary>
    private Task<int> FetchAsync(long offset, Memory<byte> destination)
    {
        lock (_fetches) _fetches.Add((offset, destination.Length, SharedBuffer.TryLocate(destination, out _, out _)));
        int n = (int)Math.Clamp(FileBytes - offset, 0, destination.Length);
        var span = destination.Span;
        for (int i = 0; i < n; i++) span[i] = ByteAt(offset + i);
        return Task.FromResult(n);
    }

    private static async Task ReadAndCheckAsync(ReadAhead reader, long offset, int length)
    {
        var buffer = new byte[length];
        Assert.Equal(length, await reader.ReadAsync(offset, buffer));
        for (int i = 0; i < length; i++)
            if (buffer[i] != ByteAt(offset + i)) Assert.Fail($"byte {offset + i} is wrong");
    }

    [Fact]
    public async Task Without_read_ahead_out_of_order_reads_fetch_exactly_what_they_ask_through_shared_slots()
    {
        using var reader = new ReadAhead(FetchAsync, readAheadBytes: 0, _slots);
        // As the kernel's read-ahead sends them: 1 MiB requests on several threads, in no fixed order.
        long[] order = [0, 2, 1, 4, 3, 5, 7, 6];
        await Task.WhenAll(order.Select(block => ReadAndCheckAsync(reader, block * MiB, MiB)));
        Assert.Equal(order.Select(b => b * MiB).Order(), _fetches.Select(f => f.Offset).Order());
        Assert.All(_fetches, f => Assert.Equal(MiB, f.Length));
        Assert.All(_fetches, f => Assert.True(f.Shared, $"the read at {f.Offset} was fetched into ordinary memory"));
    }

    [Fact]
    public async Task A_random_read_with_read_ahead_on_goes_through_a_shared_slot_too()
    {
        using var reader = new ReadAhead(FetchAsync, readAheadBytes: 4 * MiB, _slots);
        await ReadAndCheckAsync(reader, 10 * MiB + 123, 5000);
        var fetch = Assert.Single(_fetches);
        Assert.Equal((10 * MiB + 123L, 5000, true), fetch);
    }

    [Fact]
    public async Task Sequential_reads_with_read_ahead_on_fetch_windows_ahead_in_shared_slots()
    {
        using var reader = new ReadAhead(FetchAsync, readAheadBytes: 4 * MiB, _slots);
        for (long at = 0; at < 8 * MiB; at += MiB) await ReadAndCheckAsync(reader, at, MiB);
        Assert.Contains(_fetches, f => f.Length == 2 * MiB);
        Assert.All(_fetches, f => Assert.True(f.Shared));
    }

    [Fact]
    public async Task A_read_larger_than_a_slot_is_fetched_into_the_callers_buffer()
    {
        using var reader = new ReadAhead(FetchAsync, readAheadBytes: 0, _slots);
        await ReadAndCheckAsync(reader, 3, 3 * MiB);
        Assert.Equal((3L, 3 * MiB, false), Assert.Single(_fetches));
    }

    [Fact]
    public async Task The_end_of_the_file_reads_short()
    {
        using var reader = new ReadAhead(FetchAsync, readAheadBytes: 0, _slots);
        var buffer = new byte[MiB];
        Assert.Equal(1000, await reader.ReadAsync(FileBytes - 1000, buffer));
        Assert.Equal(ByteAt(FileBytes - 1), buffer[999]);
    }

    /// <summary>A node call that ends with <paramref name="failure"/> instead of an answer of bytes.</summary>
    private static Func<long, Memory<byte>, Task<int>> Failing(Exception failure) => (_, _) => Task.FromException<int>(failure);

    private static readonly FilesClientException TimedOut = new(StatusCode.DeadlineExceeded, FilesError.None, "the call did not finish in time (data socket)");
    private static readonly FilesClientException NotFound = new(StatusCode.NotFound, FilesError.NotFound, "no such file");

    [Theory]
    [InlineData(false, 1)] // a timeout: the node may still be copying into the slot, so no other read may get it
    [InlineData(true, 0)]  // the node refused the read: it is done with the slot
    public async Task A_slot_goes_back_to_the_pool_only_when_the_node_answered_its_read(bool nodeAnswered, int retired)
    {
        using var reader = new ReadAhead(Failing(nodeAnswered ? NotFound : TimedOut), readAheadBytes: 0, _slots);
        await Assert.ThrowsAsync<FilesClientException>(() => reader.ReadAsync(0, new byte[MiB]));
        Assert.Equal(retired, _slots.Retired);
        Assert.Equal(4 - retired, _slots.FreeCount);
    }

    [Fact]
    public async Task A_read_ahead_window_whose_fill_the_node_did_not_answer_retires_its_slot()
    {
        int calls = 0;
        var unanswered = new List<int>();
        // Sequential reads start windows; from the third call on the node stops answering.
        Task<int> FlakyAsync(long offset, Memory<byte> destination)
        {
            if (Interlocked.Increment(ref calls) <= 2) return FetchAsync(offset, destination);
            lock (unanswered) if (SharedBuffer.TryLocate(destination, out _, out _)) unanswered.Add(destination.Length);
            return Task.FromException<int>(TimedOut);
        }
        using (var reader = new ReadAhead(FlakyAsync, readAheadBytes: 4 * MiB, _slots))
        {
            for (long at = 0; at < 8 * MiB; at += MiB)
            {
                try { await reader.ReadAsync(at, new byte[MiB]); }
                catch (FilesClientException) { }
            }
        }
        // Windows go back (or are retired) once their fills end; every fill has ended by now.
        for (int i = 0; i < 200 && _slots.FreeCount + _slots.Retired < 4; i++) await Task.Delay(10);
        Assert.Contains(2 * MiB, unanswered); // a window's fill, not only exact reads
        Assert.Equal(unanswered.Count, _slots.Retired);
        Assert.Equal(4, _slots.FreeCount + _slots.Retired);
    }
}
