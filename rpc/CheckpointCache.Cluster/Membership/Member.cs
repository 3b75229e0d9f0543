using System.IO.Hashing;
using System.Text;

namespace CheckpointCache.Cluster.Membership;

/// <summary>A live node as the member list has it: its id, where its peer service listens, and its labels.</summary>
public sealed record Member(string Id, string PeerEndpoint, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>Seed of this member's rendezvous weights, fixed by its id so every node computes the same ranking.</summary>
    public ulong Seed { get; } = XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(Id));

    public string? Label(string name) => name.Length > 0 && Labels.TryGetValue(name, out var v) ? v : null;

    public bool Equals(Member? other)
        => other is not null && Id == other.Id && PeerEndpoint == other.PeerEndpoint
           && Labels.Count == other.Labels.Count && Labels.All(l => other.Labels.TryGetValue(l.Key, out var v) && v == l.Value);

    public override int GetHashCode() => HashCode.Combine(Id, PeerEndpoint);
}
