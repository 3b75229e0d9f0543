using System.Buffers.Binary;
using CheckpointCache.Engine.Devices;

namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>The device under a real FasterKV: values leave memory, come back through pending reads, and survive a reopen.</summary>
public sealed class DirectFileDeviceFasterTests : IDisposable
{
    // 40 values of 100 KiB - 1 MiB (about 22 MB) against 16 MiB of log memory and 4 MiB segments.
    private const int ValueCount = 40;
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static byte[] Key(int id) => BitConverter.GetBytes((long)id * 7919 + 1);

    private static byte[] Value(int id)
    {
        int length = 100 * 1024 + new Random(id).Next(0, 1024 * 1024 - 100 * 1024 - 1024);
        var value = new byte[length];
        new Random(id * 31 + 7).NextBytes(value);
        BinaryPrimitives.WriteInt32LittleEndian(value, id); // a value under the wrong key is visible at once
        return value;
    }

    private static void WriteAll(FasterStore store)
    {
        for (int id = 0; id < ValueCount; id++) store.Upsert(Key(id), Value(id));
    }

    private static void AssertAllReadBack(FasterStore store, bool expectPending)
    {
        for (int id = 0; id < ValueCount; id++)
        {
            var (status, value, wentPending) = store.Read(Key(id));
            Assert.True(status.Found, $"key {id}: {status}");
            if (expectPending) Assert.True(wentPending, $"key {id} was still in memory");
            Assert.True(Value(id).AsSpan().SequenceEqual(value), $"key {id}: bytes differ");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Values_evicted_from_memory_read_back_byte_exact_through_the_device(bool directIo)
    {
        using var store = new FasterStore(_folder, new DirectFileDeviceOptions { IoThreads = 4, DirectIo = directIo });
        WriteAll(store);
        store.Log.FlushAndEvict(wait: true);

        AssertAllReadBack(store, expectPending: true);

        var counters = store.Device.Counters;
        Assert.Equal(0, counters.Misaligned); // FASTER kept to the 4 KiB contract for every request
        Assert.Equal(0, counters.Failures);
        Assert.True(counters.Reads >= ValueCount);
        Assert.True(store.Device.EndSegment >= 4, $"expected several segments, end segment {store.Device.EndSegment}");
    }

    [Fact]
    public async Task A_checkpointed_store_recovers_its_values_after_the_device_is_reopened()
    {
        using (var store = new FasterStore(_folder, new DirectFileDeviceOptions { IoThreads = 4 }))
        {
            WriteAll(store);
            await store.CheckpointAsync();
        }

        using var recovered = new FasterStore(_folder, new DirectFileDeviceOptions { IoThreads = 4 }, recover: true);
        Assert.Equal(0, recovered.Device.StartSegment);
        Assert.True(recovered.Device.EndSegment >= 4);
        recovered.Log.FlushAndEvict(wait: true);

        AssertAllReadBack(recovered, expectPending: true);
        Assert.Equal(0, recovered.Device.Counters.Failures);
    }

    [Fact]
    public void A_value_whose_segment_vanished_is_a_miss_and_does_not_hang()
    {
        using var store = new FasterStore(_folder, new DirectFileDeviceOptions { IoThreads = 4 });
        WriteAll(store);
        store.Log.FlushAndEvict(wait: true);

        // Behind FASTER's back, as a disk fault or an operator would.
        store.Device.RemoveSegment(0);
        var (status, _, wentPending) = store.Read(Key(0));

        Assert.True(wentPending);
        Assert.False(status.Found, $"read of a removed segment returned {status}");
        Assert.True(store.Device.Counters.Failures >= 1, "the device must report the failed read");
        Assert.True(store.Read(Key(ValueCount - 1)).Status.Found, "other segments still read");
    }
}
