using Grpc.Core;

namespace CheckpointCache.Node.DataSocket;

/// <summary>A data-socket call that fails as a whole; the answer carries the same status gRPC would, then the connection closes.</summary>
internal sealed class DataCallException(StatusCode code, string message) : Exception(message)
{
    public StatusCode Code { get; } = code;
}
