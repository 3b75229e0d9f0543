namespace CheckpointCache.Node.Tests.Infrastructure;

public enum Transport
{
    UnixSocket,
    Tcp,
}
