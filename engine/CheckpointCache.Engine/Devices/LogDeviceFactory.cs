using CheckpointCache.Engine.Options;
using FASTER.core;
using Microsoft.Extensions.Logging;

namespace CheckpointCache.Engine.Devices;

/// <summary>Picks the log device for a namespace: our O_DIRECT device, or FASTER's managed one.</summary>
internal static class LogDeviceFactory
{
    public static IDevice Create(string baseName, EngineOptions options, ILoggerFactory loggerFactory)
    {
        if (options.DirectIo && DirectFileDevice.IsSupported)
        {
            return new DirectFileDevice(baseName, new DirectFileDeviceOptions { IoThreads = options.IoThreads, ReadPieceBytes = checked((int)options.ReadPieceBytes.Bytes), Recover = true },
                loggerFactory.CreateLogger<DirectFileDevice>());
        }
        if (options.DirectIo)
        {
            loggerFactory.CreateLogger<DirectFileDevice>().LogWarning(
                "DirectIo is set but this platform has no O_DIRECT device; using FASTER's managed device for {BaseName}", baseName);
        }
        return FASTER.core.Devices.CreateLogDevice(baseName, preallocateFile: false, deleteOnClose: false, recoverDevice: true);
    }
}
