using Grpc.Core;

namespace CheckpointCache.Client;

/// <summary>
/// The outcome of one item of a batch call. <paramref name="Replicas"/> (BatchPut): how many nodes held the item
/// when the node answered: 1 for local placement, up to the store's replicas for a hashed store.
/// </summary>
public readonly record struct KeyResult(int Index, StatusCode Code, string Message, int Replicas = 0)
{
    public bool Ok => Code == StatusCode.OK;
}
