using System.Net;
using CheckpointCache.Engine;

namespace CheckpointCache.Cluster.Options;

/// <summary>Checks cluster settings before anything starts, so a bad one stops the node with a message naming it.</summary>
public static class ClusterOptionsValidation
{
    /// <param name="stores">Engine stores that exist, with their kind.</param>
    /// <param name="tlsConfigured">Whether the node has a TLS certificate for its listeners.</param>
    public static IReadOnlyList<string> Check(ClusterOptions cluster, IReadOnlyDictionary<string, NamespaceKind> stores, bool tlsConfigured, string nodeId)
    {
        var storeNames = stores.Keys.ToList();
        var errors = new List<string>();
        if (!cluster.Enabled) return errors;
        if (string.IsNullOrWhiteSpace(nodeId) || nodeId.Contains('/'))
            errors.Add($"Node:NodeId '{nodeId}' must be set and contain no '/' when Cluster:Enabled is true: it is the member id");
        if (!IPAddress.TryParse(cluster.PeerAddress, out var address) && cluster.PeerAddress != "localhost")
            errors.Add($"Cluster:PeerAddress '{cluster.PeerAddress}' is not an IP address");
        else if (cluster.PeerPort is < 0 or > 65535)
            errors.Add($"Cluster:PeerPort ({cluster.PeerPort}) must be between 0 and 65535");
        else if (!IsLoopback(cluster.PeerAddress))
        {
            if (string.IsNullOrEmpty(PeerTokenLoader.Load(cluster)))
                errors.Add($"Cluster:PeerAddress '{cluster.PeerAddress}' is not loopback and no Cluster:PeerToken (or PeerTokenFile) is set: peer calls beyond this machine must be authenticated");
            if (!tlsConfigured)
                errors.Add($"Cluster:PeerAddress '{cluster.PeerAddress}' is not loopback and no TLS certificate is configured (Node:Tls:CertificatePath): the peer token would travel in clear text");
            if (address is not null && (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) && string.IsNullOrWhiteSpace(cluster.AdvertiseAddress))
                errors.Add("Cluster:PeerAddress listens on every address; set Cluster:AdvertiseAddress to the address other nodes dial");
        }
        foreach (var (store, placement) in cluster.Stores)
        {
            if (!stores.TryGetValue(store, out var kind))
                errors.Add($"Cluster:Stores names store '{store}', which is not configured under Engine:Namespaces ({string.Join(", ", storeNames)})");
            else if (kind == NamespaceKind.Files && placement.IsHashed && placement.Replicas < 2)
                // Files are placed by directory, whole versions at a time, and the writer keeps its copy: with one
                // replica there would be nothing to place. Local placement is the single-copy setting.
                errors.Add($"Cluster:Stores:{store}: a store of kind files with Placement Hashed needs Replicas of at least 2 (the writer keeps one copy, the others go to the directory's owners); use Placement Local for one copy");
            if (placement.Replicas < 1)
                errors.Add($"Cluster:Stores:{store}:Replicas ({placement.Replicas}) must be at least 1");
            if (placement.Placement == PlacementKind.Local && placement.Replicas != 1)
                errors.Add($"Cluster:Stores:{store}: Replicas {placement.Replicas} needs Placement Hashed; Local keeps the one copy on the node that received it");
        }
        if (cluster.Membership == MembershipKind.Static)
        {
            if (cluster.StaticMembers.Count == 0) errors.Add("Cluster:Membership is Static but Cluster:StaticMembers is empty");
            if (!cluster.StaticMembers.Any(m => m.Id == nodeId)) errors.Add($"Cluster:StaticMembers does not list this node ('{nodeId}')");
            foreach (var m in cluster.StaticMembers)
                if (!Uri.TryCreate(m.Peer, UriKind.Absolute, out _)) errors.Add($"Cluster:StaticMembers '{m.Id}': Peer '{m.Peer}' is not a URL such as http://10.0.0.5:7402");
        }
        else
        {
            if (cluster.Etcd.EndpointList().Count == 0) errors.Add("Cluster:Etcd:Endpoints is empty");
            foreach (var e in cluster.Etcd.EndpointList())
                if (!Uri.TryCreate(e, UriKind.Absolute, out _)) errors.Add($"Cluster:Etcd:Endpoints: '{e}' is not a URL such as http://127.0.0.1:2379");
            if (cluster.Etcd.LeaseTtl < TimeSpan.FromSeconds(2))
                errors.Add($"Cluster:Etcd:LeaseTtl ({cluster.Etcd.LeaseTtl}) must be at least 2 s (etcd's own minimum is about 1.5 s)");
            if (cluster.Etcd.KeepAlivesPerTtl < 2) errors.Add($"Cluster:Etcd:KeepAlivesPerTtl ({cluster.Etcd.KeepAlivesPerTtl}) must be at least 2");
            if (cluster.Etcd.ListPageSize < 1) errors.Add($"Cluster:Etcd:ListPageSize ({cluster.Etcd.ListPageSize}) must be at least 1");
            if (!cluster.Etcd.Prefix.EndsWith('/')) errors.Add($"Cluster:Etcd:Prefix '{cluster.Etcd.Prefix}' must end with '/'");
        }
        if (cluster.FileTombstoneRetention < TimeSpan.FromMinutes(1))
            errors.Add($"Cluster:FileTombstoneRetention ({cluster.FileTombstoneRetention}) must be at least 1 minute: a shorter one lets a node that was away bring deleted files back");
        if (cluster.FileNegativeCacheTime < TimeSpan.Zero)
            errors.Add($"Cluster:FileNegativeCacheTime ({cluster.FileNegativeCacheTime}) must not be negative");
        if (cluster.RebalanceBytesPerSecond.Bytes < 64 * 1024)
            errors.Add($"Cluster:RebalanceBytesPerSecond ({cluster.RebalanceBytesPerSecond}) must be at least 64KiB");
        return errors;
    }

    public static bool IsLoopback(string address)
        => address == "localhost" || (IPAddress.TryParse(address, out var ip) && IPAddress.IsLoopback(ip));
}
