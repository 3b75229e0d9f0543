using CheckpointCache.Engine.Devices;
using FASTER.core;

namespace CheckpointCache.Engine.Tests.Devices;

/// <summary>
/// A small FasterKV&lt;SpanByte,SpanByte&gt; over a <see cref="DirectFileDevice"/>: 2 MiB pages (a 1 MiB
/// value plus headers must fit in one), 16 MiB in memory, 4 MiB segments so a test spans several files.
/// </summary>
internal sealed class FasterStore : IDisposable
{
    public const int PageSizeBits = 21;
    public const int MemorySizeBits = 24;
    public const int SegmentSizeBits = 22;

    private readonly FasterKV<SpanByte, SpanByte> _store;
    private readonly ClientSession<SpanByte, SpanByte, SpanByte, byte[], Empty, SpanByteFunctions_ByteArrayOutput<Empty>> _session;

    public FasterStore(TestFolder folder, DirectFileDeviceOptions options, bool recover = false)
    {
        Device = new DirectFileDevice(Path.Combine(folder.Path, "hlog"), options);
        _store = new FasterKV<SpanByte, SpanByte>(
            1L << 12,
            new LogSettings
            {
                LogDevice = Device,
                PageSizeBits = PageSizeBits,
                MemorySizeBits = MemorySizeBits,
                SegmentSizeBits = SegmentSizeBits,
                MutableFraction = 0.5,
            },
            new CheckpointSettings { CheckpointDir = Path.Combine(folder.Path, "checkpoints") });
        if (recover) _store.Recover();
        _session = _store.For(new SpanByteFunctions_ByteArrayOutput<Empty>()).NewSession<SpanByteFunctions_ByteArrayOutput<Empty>>();
    }

    public DirectFileDevice Device { get; }
    public LogAccessor<SpanByte, SpanByte> Log => _store.Log;

    public unsafe void Upsert(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        fixed (byte* k = key)
        fixed (byte* v = value)
        {
            var ks = new SpanByte(key.Length, (nint)k);
            var vs = new SpanByte(value.Length, (nint)v);
            if (_session.Upsert(ref ks, ref vs).IsPending) _session.CompletePending(wait: true);
        }
    }

    /// <summary>Reads a value; WentPending says whether FASTER had to fetch it from the device.</summary>
    public unsafe (Status Status, byte[]? Value, bool WentPending) Read(ReadOnlySpan<byte> key)
    {
        fixed (byte* k = key)
        {
            var ks = new SpanByte(key.Length, (nint)k);
            SpanByte input = default;
            byte[] output = null!;
            var status = _session.Read(ref ks, ref input, ref output);
            if (!status.IsPending) return (status, output, false);

            _session.CompletePendingWithOutputs(out var outputs, wait: true);
            using (outputs)
            {
                Assert.True(outputs.Next());
                return (outputs.Current.Status, outputs.Current.Output, true);
            }
        }
    }

    public async Task CheckpointAsync()
    {
        var (success, _) = await _store.TakeFullCheckpointAsync(CheckpointType.FoldOver);
        Assert.True(success);
        await _store.CompleteCheckpointAsync();
    }

    public void Dispose()
    {
        _session.Dispose();
        _store.Dispose();
        Device.Dispose();
    }
}
