namespace CheckpointCache.Mount.Tests.Infrastructure;

/// <summary>A test that needs a real FUSE device: skipped, saying so, only where /dev/fuse does not exist.</summary>
public sealed class FuseFactAttribute : FactAttribute
{
    public FuseFactAttribute()
    {
        if (!File.Exists("/dev/fuse")) Skip = "/dev/fuse is missing on this machine: FUSE mount tests cannot run (they run wherever /dev/fuse exists)";
    }
}
