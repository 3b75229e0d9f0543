using System.Net;

namespace CheckpointCache.Node.Tests.Lifecycle;

/// <summary>What a kubelet's HTTP probe would get from the node's metrics listener.</summary>
internal static class Probes
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(1) };

    /// <summary>Polls until <paramref name="condition"/> holds; the limit only keeps a broken node from hanging the suite.</summary>
    public static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("gave up waiting for " + what);
            await Task.Delay(50);
        }
    }

    /// <summary>The status code and body of GET <paramref name="path"/> on the listener of <paramref name="metricsUrl"/>.</summary>
    public static async Task<(HttpStatusCode Code, string Body)> GetAsync(string metricsUrl, string path)
    {
        var uri = new Uri(new Uri(metricsUrl), path);
        using var response = await Http.GetAsync(uri);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
