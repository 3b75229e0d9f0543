using System.Text.Json;
using System.Text.Json.Serialization;

namespace CheckpointCache.Cluster.Membership;

/// <summary>The JSON value a node stores under its member key in etcd.</summary>
internal sealed record MemberRecord(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("peer")] string Peer,
    [property: JsonPropertyName("labels")] Dictionary<string, string>? Labels)
{
    public static string Serialize(Member m) => JsonSerializer.Serialize(new MemberRecord(m.Id, m.PeerEndpoint, new Dictionary<string, string>(m.Labels)));

    public static Member? TryParse(ReadOnlySpan<byte> json)
    {
        try
        {
            var r = JsonSerializer.Deserialize<MemberRecord>(json);
            if (r is null || string.IsNullOrEmpty(r.Id) || string.IsNullOrEmpty(r.Peer)) return null;
            return new Member(r.Id, r.Peer, r.Labels ?? new Dictionary<string, string>());
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
