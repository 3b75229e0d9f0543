namespace CheckpointCache.Node.Lifecycle;

/// <summary>How `checkpointcache serve` ends; systemd and Kubernetes see these.</summary>
public static class ExitCodes
{
    /// <summary>Stopped on SIGTERM/Ctrl+C after a complete drain: everything acknowledged is committed.</summary>
    public const int Clean = 0;

    /// <summary>The configuration cannot work (each error was logged); the node never started.</summary>
    public const int ConfigurationError = 2;

    /// <summary>Stopped, but a drain step failed or ran out of time (logged); the next start recovers from the last checkpoint.</summary>
    public const int DrainIncomplete = 3;

    /// <summary>Node:ShutdownTimeout passed before the node had stopped: it exited at once (like a crash, recovered at the next start).</summary>
    public const int ShutdownTimedOut = 4;
}
