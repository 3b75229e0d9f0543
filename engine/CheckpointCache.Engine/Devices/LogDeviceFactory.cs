using CheckpointCache.Engine.Options;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Devices;

/// <summary>Picks the log device for a namespace: our O_DIRECT device, or FASTER's managed one.</summary>
internal static class LogDeviceFactory
{
    public static IDevice Create(string baseName, EngineOptions options, ILoggerFactory loggerFactory)
    {
        // The O_DIRECT device joins here once it lands; until then both settings use FASTER's device.
        return FASTER.core.Devices.CreateLogDevice(baseName, preallocateFile: false, deleteOnClose: false, recoverDevice: true);
    }
}
