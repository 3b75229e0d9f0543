namespace CheckpointCache.Node.Lifecycle;

/// <summary>Where a node is in its life: serving, draining (taken out of service), or drained (still up, serving reads only).</summary>
public enum LifecycleState
{
    Serving = 0,
    Draining = 1,
    Drained = 2,
}
