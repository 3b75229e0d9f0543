using CheckpointCache.Engine.Options;

namespace CheckpointCache.Cluster.Options;

/// <summary>How a node joins a cluster and where its data goes; bound from the "Cluster" configuration section.</summary>
public sealed class ClusterOptions
{
    public const string Section = "Cluster";

    /// <summary>Off by default: a node alone is a complete cache and makes no network call.</summary>
    public bool Enabled { get; set; }

    /// <summary>Where the member list comes from: a fixed list, or etcd leases and a watch.</summary>
    public MembershipKind Membership { get; set; } = MembershipKind.Etcd;

    public EtcdOptions Etcd { get; set; } = new();

    /// <summary>The members when <see cref="Membership"/> is Static (this node included). All are taken as live.</summary>
    public List<StaticMemberOptions> StaticMembers { get; set; } = [];

    /// <summary>Peer listener address; anything but loopback needs a token and TLS.</summary>
    public string PeerAddress { get; set; } = "127.0.0.1";

    /// <summary>Peer listener port; 0 lets the operating system choose (the chosen one is advertised).</summary>
    public int PeerPort { get; set; } = 7402;

    /// <summary>Address other nodes dial to reach this one; empty means PeerAddress (set it when listening on 0.0.0.0).</summary>
    public string AdvertiseAddress { get; set; } = "";

    /// <summary>Shared secret every peer call must carry; required when the peer listener is not on loopback.</summary>
    public string PeerToken { get; set; } = "";

    /// <summary>File holding the shared secret (first line); used when PeerToken is empty.</summary>
    public string PeerTokenFile { get; set; } = "";

    /// <summary>Labels of this member (e.g. zone, rack), published with its membership.</summary>
    public Dictionary<string, string> Labels { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Label whose values are failure domains: replicas of a key go to distinct domains first. Empty: none.</summary>
    public string FailureDomainLabel { get; set; } = "";

    /// <summary>Placement per engine store; stores not named here are local with one replica.</summary>
    public Dictionary<string, StorePlacementOptions> Stores { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Cap on rebalance and refill traffic this node sends (client writes' replication is not capped).</summary>
    public ByteSize RebalanceBytesPerSecond { get; set; } = ByteSize.FromMiB(200);

    /// <summary>A burst of membership changes within this time is handled by one rebalance pass.</summary>
    public TimeSpan RebalanceDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Wait before a pass that left work undone (a peer unreachable, a copy not yet confirmed) is retried.</summary>
    public TimeSpan RebalanceRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a replicated files store keeps the tombstone of a delete or rename, so a node that was away longer brings nothing back.</summary>
    public TimeSpan FileTombstoneRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a path no holder had is not asked about again (bounds peer calls from stat of absent files).</summary>
    public TimeSpan FileNegativeCacheTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Deadline of one peer call.</summary>
    public TimeSpan PeerCallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public StorePlacementOptions PlacementOf(string store)
        => Stores.TryGetValue(store, out var placement) ? placement : StorePlacementOptions.LocalDefault;
}
