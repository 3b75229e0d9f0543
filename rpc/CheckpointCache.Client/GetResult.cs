using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;

namespace CheckpointCache.Client;

/// <summary>One key of a BatchGet: the value on a hit, else the reason (NOT_FOUND is a plain miss).</summary>
public sealed record GetResult(int Index, StatusCode Code, string Message, Tier Tier, byte[]? Value)
{
    public bool Hit => Code == StatusCode.OK && Value is not null;
}
