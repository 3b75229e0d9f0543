using CheckpointCache.Client;
using CheckpointCache.Rpc.Kv.V1;
using Google.Protobuf;
using Grpc.Core;

namespace CheckpointCache.Node.Tests.Infrastructure;

/// <summary>Hand-made frames and requests, for the inputs a well-behaved client never sends.</summary>
public static class RawCalls
{
    public static PutFrame Item(byte[] key, long totalLength, byte[]? data = null, NamespaceRef? ns = null) => new()
    {
        Namespace = ns,
        NewItem = true,
        Key = ByteString.CopyFrom(key),
        TotalLength = (ulong)totalLength,
        Data = data is null ? ByteString.Empty : ByteString.CopyFrom(data),
    };

    public static PutFrame Data(byte[] data) => new() { Data = ByteString.CopyFrom(data) };

    /// <summary>An item split into 1 MiB frames, the first carrying the namespace if given.</summary>
    public static IEnumerable<PutFrame> Whole(byte[] key, byte[] value, NamespaceRef? ns = null)
    {
        const int frame = 1024 * 1024;
        yield return Item(key, value.Length, value[..Math.Min(frame, value.Length)], ns);
        for (int offset = frame; offset < value.Length; offset += frame)
            yield return Data(value[offset..Math.Min(offset + frame, value.Length)]);
    }

    public static async Task<BatchPutResponse> PutAsync(CacheClient client, IEnumerable<PutFrame> frames, DateTime? deadline = null)
    {
        using var call = client.Kv.BatchPut(deadline: deadline);
        try
        {
            foreach (var f in frames) await call.RequestStream.WriteAsync(f);
            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The node may end the call while frames are still going out; its status is what counts.
        }
        catch (InvalidOperationException)
        {
        }
        return await call;
    }

    public static async Task<List<GetFrame>> GetFramesAsync(CacheClient client, KvNamespace ns, IEnumerable<byte[]> keys, uint maxFrameBytes = 0)
    {
        var request = new BatchGetRequest { Namespace = ns.ToRef(), MaxFrameBytes = maxFrameBytes };
        foreach (var k in keys) request.Keys.Add(ByteString.CopyFrom(k));
        using var call = client.Kv.BatchGet(request);
        var frames = new List<GetFrame>();
        await foreach (var f in call.ResponseStream.ReadAllAsync()) frames.Add(f);
        return frames;
    }

    public static KvNamespace Undeclared(string store = "") => new(store, Guid.NewGuid().ToByteArray());
}
