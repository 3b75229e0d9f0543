using System.IO.Hashing;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using CheckpointCache.CloudTier.Blob;

namespace CheckpointCache.CloudTier.Tests.Infrastructure;

/// <summary>Reads what the node put in Blob, with the SDK directly (not through the node).</summary>
internal static class Blobs
{
    /// <summary>Logical paths of the "files" store in the container (empty when it does not exist).</summary>
    public static async Task<List<string>> PathsAsync(BlobContainerClient container, string store = "files")
    {
        var paths = new List<string>();
        if (!await container.ExistsAsync()) return paths;
        await foreach (var item in container.GetBlobsAsync(new GetBlobsOptions()))
            if (BlobNaming.Parse(item.Name) is { } name && name.Store == store) paths.Add(name.Path);
        paths.Sort(StringComparer.Ordinal);
        return paths;
    }

    /// <summary>The bytes of the object of <paramref name="path"/>, after checking its metadata checksum against them.</summary>
    public static async Task<byte[]> ReadVerifiedAsync(BlobContainerClient container, string path, string store = "files")
    {
        var blob = container.GetBlobClient(BlobNaming.NameOf(store, path));
        var download = (await blob.DownloadContentAsync()).Value;
        var bytes = download.Content.ToArray();
        Assert.True(BlobNaming.TryRead(download.Details.Metadata, out _, out var size, out var checksum), "metadata of " + path);
        Assert.Equal(bytes.Length, size);
        Assert.Equal(XxHash64.HashToUInt64(bytes), checksum);
        Assert.Equal(Uri.EscapeDataString(path), download.Details.Metadata[BlobNaming.PathKey]);
        return bytes;
    }
}
