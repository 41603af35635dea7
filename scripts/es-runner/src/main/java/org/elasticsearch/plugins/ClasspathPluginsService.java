package org.elasticsearch.plugins;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

import org.elasticsearch.Version;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.jdk.ModuleQualifiedExportsService;

/**
 * Plugins service that, besides the (empty) modules and plugins directories, loads plugin classes
 * that are already on the classpath. Lives in this package because LoadedPlugin and loadPlugin are
 * package-private.
 */
public class ClasspathPluginsService extends PluginsService {

    private final List<LoadedPlugin> all;

    public ClasspathPluginsService(Settings settings, Environment env, Collection<Class<? extends Plugin>> classes) {
        super(settings, env.configFile(), env.modulesFile(), env.pluginsFile());
        List<LoadedPlugin> loaded = new ArrayList<>(super.plugins());
        for (Class<? extends Plugin> cls : classes) {
            PluginDescriptor descriptor = new PluginDescriptor(
                cls.getName(), "loaded from the classpath", Version.CURRENT.toString(), Version.CURRENT.toString(),
                Integer.toString(Runtime.version().feature()), cls.getName(), null, List.of(),
                false, false, false, false);
            loaded.add(new LoadedPlugin(descriptor, loadPlugin(cls, settings, env.configFile())));
        }
        this.all = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return all;
    }

    @Override
    protected void addServerExportsService(Map<String, List<ModuleQualifiedExportsService>> qualifiedExports) {
        // The server runs from the classpath, not as a named module: nothing to export.
    }
}
