using System.Net.Sockets;

namespace CheckpointCache.Node.Hosting;

/// <summary>
/// A socket file left by a node that died is in the way of the next one; a socket that still answers
/// belongs to a live node, and two nodes must not share one.
/// </summary>
internal static class UnixSocketFile
{
    /// <summary>Removes a stale socket file; throws if a live node is listening on it.</summary>
    public static void Prepare(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!File.Exists(path)) return;
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new InvalidOperationException($"another process is already listening on {path}: stop it or set Node:UnixSocketPath");
            }
            catch (SocketException)
            {
                // Nobody answers: the file is left over from a node that did not shut down cleanly.
            }
        }
        File.Delete(path);
    }
}
