using CheckpointCache.Node.Options;
using Grpc.Core;

namespace CheckpointCache.Node.DataSocket;

/// <summary>The shared buffers one data-socket connection registered, by the id the node gave each; bounded by Limits.</summary>
internal sealed class SharedRegions(LimitsOptions limits) : IDisposable
{
    private readonly List<SharedRegion> _regions = [];
    private long _bytes;

    /// <summary>Refuses a registration that would break Limits:MaxSharedBuffers or Limits:MaxSharedBufferBytes.</summary>
    public void CheckRoom(ulong bytes)
    {
        if (_regions.Count >= limits.MaxSharedBuffers)
            throw new DataCallException(StatusCode.ResourceExhausted, $"this connection has registered {_regions.Count} shared buffers, the most Limits:MaxSharedBuffers ({limits.MaxSharedBuffers}) allows");
        if (bytes == 0 || bytes > int.MaxValue)
            throw new DataCallException(StatusCode.InvalidArgument, $"a shared buffer of {bytes} bytes: it must hold 1 byte to 2 GiB - 1");
        if ((long)bytes > limits.MaxSharedBufferBytes.Bytes - _bytes)
            throw new DataCallException(StatusCode.ResourceExhausted,
                $"registering {bytes} more shared bytes brings this connection over Limits:MaxSharedBufferBytes ({limits.MaxSharedBufferBytes}); {_bytes} are registered");
    }

    public uint Add(SharedRegion region)
    {
        _regions.Add(region);
        _bytes += region.Length;
        return (uint)_regions.Count - 1;
    }

    /// <summary>
    /// Bytes [<paramref name="offset"/>, +<paramref name="length"/>) of region <paramref name="id"/>, or the reason
    /// they are not a valid place (named for item <paramref name="index"/>).
    /// </summary>
    public (Memory<byte> Memory, string? Problem) Slice(uint id, ulong offset, ulong length, int index) => Slice(id, offset, length, $"item {index}");

    /// <summary>As the item form, the reason naming the place as <paramref name="place"/> ("write record 3", "the read's destination").</summary>
    public (Memory<byte> Memory, string? Problem) Slice(uint id, ulong offset, ulong length, string place)
    {
        if (id >= (uint)_regions.Count)
            return (default, $"{place}: shared buffer {id} was not registered on this connection ({_regions.Count} are)");
        var region = _regions[(int)id];
        if (offset > (ulong)region.Length || length > (ulong)region.Length - offset)
            return (default, $"{place}: bytes {offset}..{offset + length} are outside shared buffer {id} ({region.Length} bytes)");
        region.Populate((long)offset, (long)length);
        return (region.Memory.Slice((int)offset, (int)length), null);
    }

    public void Dispose()
    {
        foreach (var region in _regions) region.Dispose();
        _regions.Clear();
        _bytes = 0;
    }
}
