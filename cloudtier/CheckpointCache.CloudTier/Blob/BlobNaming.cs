using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace CheckpointCache.CloudTier.Blob;

/// <summary>
/// Blob names put entropy first: "{4 hex digits of XXH64(store + path)}/{store}{path}". Blob partitions by name
/// range, so names that share a long prefix (every file of one checkpoint) would land on one partition server; the
/// hash spreads them. The logical path is kept in the name after the prefix (and in metadata), so a listing maps back.
/// </summary>
internal static class BlobNaming
{
    public const string PathKey = "ccpath";
    public const string StoreKey = "ccstore";
    public const string VersionKey = "ccversion";
    public const string SizeKey = "ccsize";
    public const string ChecksumKey = "ccxxh64";

    public static string NameOf(string store, string path)
    {
        var hash = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(store + path));
        return $"{hash >> 48:x4}/{store}{path}";
    }

    /// <summary>(store, logical path) of a blob name made by <see cref="NameOf"/>; null for a name that is not one.</summary>
    public static (string Store, string Path)? Parse(string name)
    {
        if (name.Length < 7 || name[4] != '/') return null;
        int slash = name.IndexOf('/', 5);
        if (slash < 0) return null;
        var store = name[5..slash];
        var path = name[slash..];
        return NameOf(store, path) == name ? (store, path) : null;
    }

    public static Dictionary<string, string> Metadata(string store, string path, long version, long size, ulong checksum) => new()
    {
        [PathKey] = Uri.EscapeDataString(path),
        [StoreKey] = Uri.EscapeDataString(store),
        [VersionKey] = version.ToString(CultureInfo.InvariantCulture),
        [SizeKey] = size.ToString(CultureInfo.InvariantCulture),
        [ChecksumKey] = checksum.ToString("x16", CultureInfo.InvariantCulture),
    };

    public static bool TryRead(IDictionary<string, string> metadata, out long version, out long size, out ulong checksum)
    {
        version = size = 0;
        checksum = 0;
        return metadata.TryGetValue(VersionKey, out var v) && long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out version)
            && metadata.TryGetValue(SizeKey, out var s) && long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out size)
            && metadata.TryGetValue(ChecksumKey, out var c) && ulong.TryParse(c, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out checksum);
    }
}
