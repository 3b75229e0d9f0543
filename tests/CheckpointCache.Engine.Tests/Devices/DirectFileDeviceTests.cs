using CheckpointCache.Engine.Devices;

namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>The device on its own, driven through FASTER's segment-relative IDevice calls on real files.</summary>
public sealed class DirectFileDeviceTests : IDisposable
{
    private const int Sector = DirectFileDevice.SectorBytes;
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private DirectFileDevice Open(bool directIo = true, bool recover = true, bool syncWrites = true)
        => new(Path.Combine(_folder.Path, "hlog"), new DirectFileDeviceOptions { IoThreads = 4, DirectIo = directIo, Recover = recover, SyncWrites = syncWrites });

    private static void Fill(Span<byte> span, int seed)
    {
        for (int i = 0; i < span.Length; i++) span[i] = (byte)(seed * 31 + i * 7 + (i >> 12));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Write_then_read_returns_the_same_bytes(bool directIo)
    {
        using var device = Open(directIo);
        Assert.True(directIo || !device.IsDirectIo);
        using var src = new AlignedBuffer(64 * 1024);
        using var dst = new AlignedBuffer(64 * 1024);
        Fill(src.Span, 1);

        var write = await DeviceCalls.WriteAsync(device, 0, 8 * Sector, src.Address, (uint)src.Length);
        var read = await DeviceCalls.ReadAsync(device, 0, 8 * Sector, dst.Address, (uint)dst.Length);

        Assert.Equal((0u, (uint)src.Length), write);
        Assert.Equal((0u, (uint)dst.Length), read);
        Assert.True(src.Span.SequenceEqual(dst.Span));
        Assert.True(File.Exists(Path.Combine(_folder.Path, "hlog.0")));
        Assert.Equal(8 * Sector + src.Length, device.GetFileSize(0));
        Assert.Equal(0, device.Counters.Failures);
        Assert.True(device.Counters.Syncs >= 1);
        Assert.True(device.Counters.BusyTime > TimeSpan.Zero && device.Counters.ReadTime > TimeSpan.Zero && device.Counters.WriteTime > TimeSpan.Zero);
    }

    [Fact]
    public async Task A_tmpfs_folder_works_with_or_without_O_DIRECT()
    {
        // tmpfs refuses O_DIRECT on older kernels and accepts it on newer ones: either way the device must work.
        if (!Directory.Exists("/dev/shm")) return;
        var root = Path.Combine("/dev/shm", "ccache-tests", Guid.NewGuid().ToString("N"));
        try
        {
            using var device = new DirectFileDevice(Path.Combine(root, "hlog"), new DirectFileDeviceOptions { IoThreads = 2 });
            using var src = new AlignedBuffer(4 * Sector);
            using var dst = new AlignedBuffer(4 * Sector);
            Fill(src.Span, 3);

            Assert.Equal(0u, (await DeviceCalls.WriteAsync(device, 0, 0, src.Address, (uint)src.Length)).Error);
            Assert.Equal(0u, (await DeviceCalls.ReadAsync(device, 0, 0, dst.Address, (uint)dst.Length)).Error);
            Assert.True(src.Span.SequenceEqual(dst.Span));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2 * Sector)] // pieces 0 and 1 hold the data, pieces 2-7 lie wholly past the end of the file
    public async Task Read_running_past_end_of_file_is_zero_filled_and_read_starting_past_it_fails_once(int readPieceBytes)
    {
        using var device = new DirectFileDevice(Path.Combine(_folder.Path, "hlog"), new DirectFileDeviceOptions { IoThreads = 4, ReadPieceBytes = readPieceBytes });
        using var src = new AlignedBuffer(3 * Sector);
        using var dst = new AlignedBuffer(16 * Sector);
        Fill(src.Span, 2);
        Assert.Equal(0u, (await DeviceCalls.WriteAsync(device, 0, 0, src.Address, (uint)src.Length)).Error);

        dst.Span.Fill(0xFF);
        var partial = await DeviceCalls.ReadAsync(device, 0, 0, dst.Address, (uint)dst.Length);
        Assert.Equal((0u, (uint)src.Length), partial);
        Assert.True(src.Span.SequenceEqual(dst.Span[..src.Length]));
        Assert.True(dst.Span[src.Length..].IndexOfAnyExcept((byte)0) < 0);

        int calls = 0;
        var done = new TaskCompletionSource<(uint, uint)>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ReadAsync(0, 64 * Sector, dst.Address, (uint)dst.Length, (err, n, _) =>
        {
            if (Interlocked.Increment(ref calls) == 1) done.TrySetResult((err, n));
        }, new object());
        Assert.Equal((61u /* ENODATA */, 0u), await done.Task.WaitAsync(TimeSpan.FromMinutes(2)));
        await DeviceCalls.ReadAsync(device, 0, 0, dst.Address, Sector); // a later I/O: any second callback has run by now
        Assert.Equal(1, calls);
        Assert.Equal(0, device.InFlight);
    }

    [Fact]
    public async Task A_read_cut_into_pieces_returns_the_same_bytes_as_one_read()
    {
        using var device = new DirectFileDevice(Path.Combine(_folder.Path, "hlog"), new DirectFileDeviceOptions { IoThreads = 4, ReadPieceBytes = 16 * Sector });
        const int length = 1024 * 1024 + 3 * Sector; // not a multiple of the piece: the last piece is short
        using var src = new AlignedBuffer(length);
        using var dst = new AlignedBuffer(length);
        Fill(src.Span, 5);
        Assert.Equal(0u, (await DeviceCalls.WriteAsync(device, 0, 4 * Sector, src.Address, length)).Error);
        long readsBefore = device.Counters.Reads;

        var read = await DeviceCalls.ReadAsync(device, 0, 4 * Sector, dst.Address, length);

        Assert.Equal((0u, (uint)length), read);
        Assert.True(src.Span.SequenceEqual(dst.Span));
        Assert.Equal(17, device.Counters.Reads - readsBefore); // 16 pieces of 64 KiB and one of 12 KiB
        Assert.Equal(0, device.InFlight);
        Assert.Equal(0, device.Counters.Failures);
    }

    [Fact]
    public async Task A_read_in_pieces_of_a_missing_segment_reports_ENOENT_once()
    {
        using var device = new DirectFileDevice(Path.Combine(_folder.Path, "hlog"), new DirectFileDeviceOptions { IoThreads = 4, ReadPieceBytes = Sector });
        using var dst = new AlignedBuffer(8 * Sector);

        var result = await DeviceCalls.ReadAsync(device, 3, 0, dst.Address, (uint)dst.Length);

        Assert.Equal((2u /* ENOENT */, 0u), result);
        Assert.Equal(0, device.InFlight);
    }

    [Theory]
    [InlineData(-4096)]
    [InlineData(1000)]
    public void A_read_piece_that_is_not_a_sector_multiple_is_refused_naming_the_option(int pieceBytes)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new DirectFileDevice(Path.Combine(_folder.Path, "hlog"), new DirectFileDeviceOptions { ReadPieceBytes = pieceBytes }));
        Assert.Contains("ReadPieceBytes", error.Message);
    }

    [Fact]
    public async Task Reading_a_segment_that_does_not_exist_reports_ENOENT()
    {
        using var device = Open();
        using var dst = new AlignedBuffer(Sector);

        var result = await DeviceCalls.ReadAsync(device, 7, 0, dst.Address, Sector);

        Assert.Equal((2u /* ENOENT */, 0u), result);
        Assert.False(File.Exists(Path.Combine(_folder.Path, "hlog.7")), "a read must not create the segment");
        Assert.Equal(1, device.Counters.Failures);
    }

    [Fact]
    public async Task Misaligned_requests_are_refused_with_EINVAL_without_touching_the_file()
    {
        using var device = Open();
        using var buffer = new AlignedBuffer(4 * Sector);

        var badOffset = await DeviceCalls.WriteAsync(device, 0, 512, buffer.Address, Sector);
        var badLength = await DeviceCalls.WriteAsync(device, 0, 0, buffer.Address, 1000);
        var badBuffer = await DeviceCalls.ReadAsync(device, 0, 0, buffer.Address + 512, Sector);

        Assert.Equal((22u, 0u), badOffset);
        Assert.Equal((22u, 0u), badLength);
        Assert.Equal((22u, 0u), badBuffer);
        Assert.Equal(3, device.Counters.Misaligned);
        Assert.False(File.Exists(Path.Combine(_folder.Path, "hlog.0")));
    }

    [Fact]
    public async Task RemoveSegment_deletes_the_file_and_later_reads_fail()
    {
        using var device = Open();
        using var buffer = new AlignedBuffer(Sector);
        for (int segment = 0; segment < 4; segment++)
            Assert.Equal(0u, (await DeviceCalls.WriteAsync(device, segment, 0, buffer.Address, Sector)).Error);

        device.RemoveSegment(1);
        await DeviceCalls.RemoveSegmentAsync(device, 2);

        Assert.True(File.Exists(Path.Combine(_folder.Path, "hlog.0")));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "hlog.1")));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "hlog.2")));
        Assert.True(File.Exists(Path.Combine(_folder.Path, "hlog.3")));
        Assert.Equal(2u, (await DeviceCalls.ReadAsync(device, 1, 0, buffer.Address, Sector)).Error);
        Assert.Equal(2u, (await DeviceCalls.ReadAsync(device, 2, 0, buffer.Address, Sector)).Error);
        Assert.Equal(0u, (await DeviceCalls.ReadAsync(device, 3, 0, buffer.Address, Sector)).Error);
    }

    [Fact]
    public async Task Reopening_finds_the_segment_range_and_ignores_other_files()
    {
        using (var device = Open())
        {
            Assert.Equal(-1, device.EndSegment);
            using var buffer = new AlignedBuffer(Sector);
            Fill(buffer.Span, 5);
            foreach (int segment in new[] { 3, 4, 5 })
                Assert.Equal(0u, (await DeviceCalls.WriteAsync(device, segment, 0, buffer.Address, Sector)).Error);
            Assert.Equal(5, device.EndSegment);
        }
        File.WriteAllText(Path.Combine(_folder.Path, "hlog.9.tmp"), "not a segment");
        File.WriteAllText(Path.Combine(_folder.Path, "hlogx.12"), "another log");

        using var reopened = Open();
        using var dst = new AlignedBuffer(Sector);
        using var expected = new AlignedBuffer(Sector);
        Fill(expected.Span, 5);

        Assert.Equal(3, reopened.StartSegment);
        Assert.Equal(5, reopened.EndSegment);
        Assert.Equal(0u, (await DeviceCalls.ReadAsync(reopened, 4, 0, dst.Address, Sector)).Error);
        Assert.True(expected.Span.SequenceEqual(dst.Span));

        using var notRecovered = Open(recover: false);
        Assert.Equal(0, notRecovered.StartSegment);
        Assert.Equal(-1, notRecovered.EndSegment);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dispose_completes_every_queued_io_before_returning(bool syncWrites)
    {
        const int count = 64;
        int completed = 0, failed = 0;
        var buffers = Enumerable.Range(0, count).Select(_ => new AlignedBuffer(16 * Sector)).ToArray();
        try
        {
            var device = Open(syncWrites: syncWrites);
            for (int i = 0; i < count; i++)
            {
                device.WriteAsync(buffers[i].Address, i % 4, (ulong)(i / 4 * buffers[i].Length), (uint)buffers[i].Length, (err, _, _) =>
                {
                    if (err != 0) Interlocked.Increment(ref failed);
                    Interlocked.Increment(ref completed);
                }, null!);
            }
            device.Dispose();

            Assert.Equal(count, Volatile.Read(ref completed));
            Assert.Equal(0, Volatile.Read(ref failed));
            Assert.Equal(0, device.InFlight);

            // After Dispose a request is refused through its callback, not by an exception.
            uint late = 0;
            device.ReadAsync(0, 0, buffers[0].Address, Sector, (err, _, _) => late = err, null!);
            Assert.Equal(125u /* ECANCELED */, late);
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    [Fact]
    public async Task A_throwing_callback_does_not_stop_the_io_threads()
    {
        using var device = new DirectFileDevice(Path.Combine(_folder.Path, "hlog"), new DirectFileDeviceOptions { IoThreads = 1 });
        using var buffer = new AlignedBuffer(Sector);
        device.WriteAsync(buffer.Address, 0, 0, Sector, (_, _, _) => throw new InvalidOperationException("callback bug"), null!);
        device.ReadAsync(0, 0, buffer.Address, Sector, (_, _, _) => throw new InvalidOperationException("callback bug"), null!);

        Assert.Equal((0u, (uint)Sector), await DeviceCalls.ReadAsync(device, 0, 0, buffer.Address, Sector));
    }
}
