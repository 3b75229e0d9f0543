using System.Net;
using System.Net.Sockets;

namespace CheckpointCache.CloudTier.Tests.Infrastructure;

internal static class FreePort
{
    /// <summary>A loopback port nobody listens on now (the OS's choice, released at once).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
