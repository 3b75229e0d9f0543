using CheckpointCache.Rpc.Kv.V1;
using Grpc.Core;

namespace CheckpointCache.Client;

/// <summary>
/// One key of <see cref="CacheClient.BatchGetIntoAsync"/>: on a hit, <paramref name="Length"/> bytes of its
/// destination hold the value; OUT_OF_RANGE when the destination was too small (nothing was written to it).
/// </summary>
public readonly record struct FillResult(int Index, StatusCode Code, string Message, Tier Tier, long Length)
{
    public bool Hit => Code == StatusCode.OK;
}
