using Grpc.Core;

namespace CheckpointCache.Client.SharedMemory;

/// <summary>The node would not map a shared buffer (a limit, or a node without shared buffers): the call can still move its values through the socket.</summary>
public sealed class SharedBufferRefusedException(RpcException refusal) : Exception($"the node refused the shared buffer: {refusal.Status.Detail}", refusal)
{
    public StatusCode Code => refusal.StatusCode;
}
