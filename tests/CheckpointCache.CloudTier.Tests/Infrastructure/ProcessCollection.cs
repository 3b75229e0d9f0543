namespace CheckpointCache.CloudTier.Tests.Infrastructure;

/// <summary>Tests that start nodes and Azurites run one at a time: the machine has two cores.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessCollection
{
    public const string Name = "node and azurite processes";
}
