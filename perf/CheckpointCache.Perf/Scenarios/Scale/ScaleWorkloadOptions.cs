namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>What every node is asked to do per second: KV puts of one value size and checkpoint files of one size.</summary>
internal sealed record ScaleWorkloadOptions(TimeSpan PutInterval, int ValueBytes, TimeSpan CheckpointInterval, int CheckpointBytes)
{
    public double PutsPerSecond => 1 / PutInterval.TotalSeconds;
    public double CheckpointsPerSecond => 1 / CheckpointInterval.TotalSeconds;
}
