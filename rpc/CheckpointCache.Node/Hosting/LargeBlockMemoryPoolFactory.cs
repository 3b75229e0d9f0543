using Microsoft.AspNetCore.Connections;

namespace CheckpointCache.Node.Hosting;

/// <summary>Hands Kestrel <see cref="LargeBlockMemoryPool"/>s (registered in the node's services, replacing the default factory).</summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public System.Buffers.MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}
