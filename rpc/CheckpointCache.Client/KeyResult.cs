using Grpc.Core;

namespace CheckpointCache.Client;

/// <summary>The outcome of one item of a batch call.</summary>
public readonly record struct KeyResult(int Index, StatusCode Code, string Message)
{
    public bool Ok => Code == StatusCode.OK;
}
