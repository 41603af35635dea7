package loa.esrunner;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.ClasspathNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/**
 * Runs one real Elasticsearch node (single-node discovery, plain HTTP, no security) until killed.
 * Usage: Main BASE_DIR HTTP_PORT TRANSPORT_PORT
 */
public final class Main {

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Main BASE_DIR HTTP_PORT TRANSPORT_PORT");
            System.exit(2);
        }
        Path base = Path.of(args[0]).toAbsolutePath();
        Path home = base.resolve("home");
        for (String dir : List.of("config", "modules", "plugins")) {
            Files.createDirectories(home.resolve(dir));
        }
        Files.createDirectories(base.resolve("data"));
        Files.createDirectories(base.resolve("logs"));

        Settings settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", base.resolve("data").toString())
            .put("path.logs", base.resolve("logs").toString())
            .put("cluster.name", "loa-test")
            .put("node.name", "loa-test-node")
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", args[2])
            .put("action.destructive_requires_name", false)
            // Tests create many small indices; keep disk watermarks from blocking writes on a full-ish disk.
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .build();

        LogConfigurator.setNodeName("loa-test-node");
        LogConfigurator.configureESLogging();
        LogConfigurator.configureWithoutConfig(settings);

        Environment env = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), home.resolve("config"), () -> "loa-test-node");
        Node node = new ClasspathNode(env, List.of(Netty4Plugin.class, RootInfoPlugin.class));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (Exception e) {
                e.printStackTrace();
            } finally {
                stopped.countDown();
            }
        }));
        node.start();
        System.out.println("loa-es-runner: started, http on 127.0.0.1:" + args[1]);
        stopped.await();
    }
}
