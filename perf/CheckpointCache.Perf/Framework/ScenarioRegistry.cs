using System.Reflection;

namespace CheckpointCache.Perf.Framework;

/// <summary>Every <see cref="IScenario"/> in this assembly, by name.</summary>
public static class ScenarioRegistry
{
    private static readonly Lazy<IReadOnlyDictionary<string, Type>> Types = new(Discover);

    public static IEnumerable<string> Names => Types.Value.Keys.Order(StringComparer.Ordinal);

    public static IScenario? Create(string name)
        => Types.Value.TryGetValue(name, out var type) ? (IScenario)Activator.CreateInstance(type)! : null;

    public static IEnumerable<IScenario> All => Names.Select(n => Create(n)!);

    private static IReadOnlyDictionary<string, Type> Discover()
    {
        var found = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in Assembly.GetExecutingAssembly().GetTypes())
        {
            if (type.IsAbstract || !typeof(IScenario).IsAssignableFrom(type) || type.GetConstructor(Type.EmptyTypes) is null) continue;
            var name = ((IScenario)Activator.CreateInstance(type)!).Name;
            if (!found.TryAdd(name, type))
                throw new InvalidOperationException($"two scenarios are named '{name}': {found[name].Name} and {type.Name}");
        }
        return found;
    }
}
