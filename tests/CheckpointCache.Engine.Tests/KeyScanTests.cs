using System.Text;

namespace CheckpointCache.Engine.Tests;

/// <summary>Key enumeration by log scan: each live key once, across tiers, overwrites, deletes, prefixes and restarts.</summary>
public sealed class KeyScanTests : IDisposable
{
    private readonly TestFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static async Task<List<string>> ScanAsync(ICacheNamespace ns, string prefix = "")
    {
        var keys = new List<string>();
        await foreach (var key in ns.ScanKeysAsync(Encoding.UTF8.GetBytes(prefix))) keys.Add(Encoding.UTF8.GetString(key));
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    private static byte[] K(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public async Task Each_live_key_is_listed_once_after_overwrites_and_deletes()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("files");
        await ns.PutAsync(K("a/1"), TestOptions.Value(1, 1000));
        await ns.PutAsync(K("a/2"), TestOptions.Value(2, 600_000)); // chunked: manifest plus chunks, one key
        await ns.PutAsync(K("a/1"), TestOptions.Value(3, 2000));     // overwrite: still one key
        await ns.PutAsync(K("b/1"), TestOptions.Value(4, 10));
        await ns.PutAsync(K("a/3"), TestOptions.Value(5, 10));
        Assert.True(await ns.DeleteAsync(K("a/3")));
        await ns.PutAsync(K("a/4"), TestOptions.Value(6, 10));
        Assert.True(await ns.DeleteAsync(K("a/4")));
        await ns.PutAsync(K("a/4"), TestOptions.Value(7, 10));       // deleted, then written again: present

        Assert.Equal(["a/1", "a/2", "a/4", "b/1"], await ScanAsync(ns));
        Assert.Equal(["a/1", "a/2", "a/4"], await ScanAsync(ns, "a/"));
        Assert.Empty(await ScanAsync(ns, "c"));
    }

    [Fact]
    public async Task Keys_on_the_ssd_tier_and_after_a_restart_are_listed()
    {
        var expected = new List<string>();
        await using (var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path)))
        {
            var ns = engine.GetNamespace("files");
            // 40 values of 250 KB: 10 MB of log, more than the 8 MiB RAM tier, so the first ones are on SSD.
            for (int i = 0; i < 40; i++)
            {
                await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 250_000));
                expected.Add($"key-{i:D6}");
            }
            Assert.Equal(Tier.Ssd, await ns.ExistsAsync(TestOptions.Key(0)));
            Assert.Equal(expected, await ScanAsync(ns));
        }
        await using (var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path)))
            Assert.Equal(expected, await ScanAsync(engine.GetNamespace("files")));
    }

    [Fact]
    public async Task Evicted_keys_are_not_listed()
    {
        await using var engine = await CacheEngine.OpenAsync(TestOptions.Engine(_folder.Path));
        var ns = engine.GetNamespace("kv");
        // 64 MiB SSD budget, 400 x 250 KB = 100 MB written: the oldest are evicted.
        for (int i = 0; i < 400; i++) await ns.PutAsync(TestOptions.Key(i), TestOptions.Value(i, 250_000));
        var listed = await ScanAsync(ns);
        Assert.InRange(listed.Count, 1, 399);
        foreach (var key in listed) Assert.NotEqual(Tier.None, await ns.ExistsAsync(K(key)));
        Assert.Equal(Tier.None, await ns.ExistsAsync(TestOptions.Key(0)));
        Assert.DoesNotContain("key-000000", listed);
        Assert.Contains("key-000399", listed);
    }
}
