using System.Text.Json;
using CheckpointCache.Engine.Options;

namespace CheckpointCache.Node.Tests.Deploy;

/// <summary>
/// The memory limit docs/operations.md gives for a configuration: every store's RamBytes, plus SsdBytes / 2048 for
/// the hash indexes (64 bytes per 256 KiB of SSD, rounded up to a power of two: at most twice SsdBytes / 4096),
/// plus 4 GiB for the runtime, gRPC buffers and file staging; rounded up to whole GiB.
/// </summary>
internal static class MemoryBudget
{
    public static long GiBFor(string appsettingsJson)
    {
        using var doc = JsonDocument.Parse(appsettingsJson);
        long ram = 0, ssd = 0;
        foreach (var store in doc.RootElement.GetProperty("Engine").GetProperty("Namespaces").EnumerateObject())
        {
            ram += ByteSize.Parse(store.Value.GetProperty("RamBytes").GetString()!).Bytes;
            ssd += ByteSize.Parse(store.Value.GetProperty("SsdBytes").GetString()!).Bytes;
        }
        long bytes = ram + ssd / 2048 + 4 * ByteSize.GiB;
        return (bytes + ByteSize.GiB - 1) / ByteSize.GiB;
    }
}
