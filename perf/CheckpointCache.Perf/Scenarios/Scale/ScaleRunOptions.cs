namespace CheckpointCache.Perf.Scenarios.Scale;

/// <summary>The settings of every cluster size of one scale run.</summary>
internal sealed record ScaleRunOptions(TimeSpan LeaseTtl, int Replicas, ScaleWorkloadOptions Workload, TimeSpan Warmup, TimeSpan Steady, int StartParallelism);
