package bigwrap.storageharness;

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.MiniYARNCluster;

/**
 * An HDFS (one NameNode, one DataNode) and, with --yarn, a YARN (one ResourceManager, one NodeManager) on
 * 127.0.0.1, for the tests. Usage: MiniClusters WORK_DIR [--yarn]. Writes core-site.xml (and yarn-site.xml)
 * into WORK_DIR/conf, prints "READY <hdfs uri>" and runs until its standard input closes, so a test fixture
 * that dies takes the clusters with it.
 */
public final class MiniClusters {
    public static void main(String[] args) throws Exception {
        try {
            run(args);
        } catch (Throwable t) {  // the clusters' own non-daemon threads would keep a failed launcher alive
            t.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    private static void run(String[] args) throws Exception {
        File work = new File(args[0]).getAbsoluteFile();
        boolean yarn = args.length > 1 && args[1].equals("--yarn");
        File confDir = new File(work, "conf");
        confDir.mkdirs();

        Configuration conf = new Configuration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(work, "dfs").getPath());
        conf.set("dfs.namenode.rpc-bind-host", "127.0.0.1");
        conf.set("dfs.permissions.enabled", "false");
        MiniDFSCluster dfs = new MiniDFSCluster.Builder(conf).numDataNodes(1).nameNodePort(0).build();
        dfs.waitActive();
        String hdfs = dfs.getFileSystem().getUri().toString();

        Configuration site = new Configuration(false);
        site.set("fs.defaultFS", hdfs);
        write(site, new File(confDir, "core-site.xml"));

        MiniYARNCluster yarnCluster = null;
        if (yarn) {
            YarnConfiguration yarnConf = new YarnConfiguration(conf);
            yarnConf.set("fs.defaultFS", hdfs);
            yarnConf.set(YarnConfiguration.RM_HOSTNAME, "127.0.0.1");
            yarnConf.setInt(YarnConfiguration.NM_PMEM_MB, Integer.getInteger("nm.memory.mb", 4096));
            yarnConf.setInt(YarnConfiguration.NM_VCORES, 2);
            yarnConf.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
            yarnConf.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
            yarnConf.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
            // a shared machine's disks are often past YARN's 90 % "bad disk" mark
            yarnConf.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
            // the FIFO scheduler needs no queue configuration file (the capacity scheduler's is not in these jars)
            yarnConf.set(YarnConfiguration.RM_SCHEDULER,
                    "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
            yarnCluster = new MiniYARNCluster("bigwrap-tests", 1, 1, 1);
            yarnCluster.init(yarnConf);
            yarnCluster.start();
            Configuration yarnSite = new Configuration(false);
            Configuration running = yarnCluster.getConfig();
            for (String key : new String[] {YarnConfiguration.RM_ADDRESS, YarnConfiguration.RM_SCHEDULER_ADDRESS,
                    YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, YarnConfiguration.RM_WEBAPP_ADDRESS,
                    YarnConfiguration.RM_ADMIN_ADDRESS, YarnConfiguration.RM_HOSTNAME}) {
                yarnSite.set(key, running.get(key));
            }
            yarnSite.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
            write(yarnSite, new File(confDir, "yarn-site.xml"));
        }

        System.out.println("READY " + hdfs);
        System.out.flush();
        while (System.in.read() != -1) { /* until the test fixture closes our stdin */ }
        if (yarnCluster != null) yarnCluster.stop();
        dfs.shutdown();
    }

    private static void write(Configuration conf, File file) throws Exception {
        try (OutputStream out = new FileOutputStream(file)) {
            conf.writeXml(out);
        }
    }
}
