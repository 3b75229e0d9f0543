namespace CheckpointCache.Node.Hosting;

/// <summary>Turns Kestrel's bound addresses into the endpoint strings clients and the CLI accept.</summary>
internal static class NodeEndpoints
{
    private const string UnixPrefix = "http://unix:";

    public static string ToClientEndpoint(string kestrelAddress)
        => kestrelAddress.StartsWith(UnixPrefix, StringComparison.Ordinal) ? "unix:" + kestrelAddress[UnixPrefix.Length..] : kestrelAddress;
}
