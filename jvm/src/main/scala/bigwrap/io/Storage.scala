package bigwrap.io

import java.io.FileNotFoundException
import java.net.URI
import java.nio.file.Paths
import java.util.UUID

import scala.util.control.NonFatal

import bigwrap.api.BigwrapException
import org.apache.hadoop.conf.Configuration
import org.apache.hadoop.fs.{FileSystem, Path}
import org.apache.hadoop.io.IOUtils
import org.apache.spark.sql.SparkSession
import org.json4s._
import org.json4s.jackson.JsonMethods

/** A file or directory on one Hadoop FileSystem. */
final case class Location(fs: FileSystem, path: Path) {
  def child(relative: String): Location = Location(fs, new Path(path, relative))
  def sibling(name: String): Location = Location(fs, new Path(path.getParent, name))
  def name: String = path.getName
  def exists: Boolean = fs.exists(path)
  def isDirectory: Boolean = try fs.getFileStatus(path).isDirectory catch { case _: FileNotFoundException => false }
  def isFile: Boolean = try fs.getFileStatus(path).isFile catch { case _: FileNotFoundException => false }
  def size: Long = fs.getFileStatus(path).getLen
  def modified: Long = fs.getFileStatus(path).getModificationTime
  /** The entries of this directory (none if it does not exist). */
  def children: Seq[Location] =
    try fs.listStatus(path).toSeq.map(s => Location(fs, s.getPath)) catch { case _: FileNotFoundException => Nil }
  def delete(): Unit = fs.delete(path, true)

  def readBytes(): Array[Byte] = {
    val in = fs.open(path)
    try {
      val out = new java.io.ByteArrayOutputStream(math.max(size, 0L).min(Int.MaxValue).toInt)
      IOUtils.copyBytes(in, out, 1 << 16, false)
      out.toByteArray
    } finally in.close()
  }

  /** Writes `bytes` as this file (replacing it); on an object store it appears whole when the write ends. */
  def write(bytes: Array[Byte]): Unit = {
    val out = fs.create(path, true)
    try out.write(bytes) finally out.close()
  }

  /** Whether a rename on this store is atomic (design §4): file and HDFS yes; object stores (s3a, gs, ...) no. */
  def renamesAtomically: Boolean = Storage.AtomicRenameSchemes.contains(fs.getUri.getScheme)

  /** As the user wrote it: a local path plainly (as in bigwrap's messages before any other store), else the URL. */
  override def toString: String = if (fs.getUri.getScheme == "file") path.toUri.getPath else path.toString
}

/**
 * Where bigwrap reads and writes (docs/persistence.md, "Storage"): any Hadoop FileSystem (hdfs://, s3a://, abfs://,
 * gs://, file://) with the running Spark's Hadoop configuration, as Spark ML's own stages do; a bare path or a file:
 * URL is a local path of the driver, as before.
 */
object Storage {
  val AtomicRenameSchemes = Set("file", "hdfs", "viewfs")
  /** Written last into every directory bigwrap writes; on stores without atomic rename, readers require it. */
  val ManifestName = "_bigwrap_manifest.json"
  private val Url = "^[a-zA-Z][a-zA-Z0-9+.-]+://.*"

  def hadoopConfiguration: Configuration =
    SparkSession.getActiveSession.orElse(SparkSession.getDefaultSession)
      .map(_.sparkContext.hadoopConfiguration).getOrElse(new Configuration())

  /** `path` as a Location: URLs on their FileSystem, bare paths and file: URLs on the local one (no .crc files). */
  def resolve(path: String): Location = {
    val plain = if (path.startsWith("file://")) path.stripPrefix("file://") else path.stripPrefix("file:")
    if (plain.matches(Url)) {
      val hadoopPath = new Path(plain)
      try Location(hadoopPath.getFileSystem(hadoopConfiguration), hadoopPath) catch {
        case NonFatal(e) => throw BigwrapException.valueError(s"'$path': no Hadoop FileSystem for its scheme " +
          s"(${BigwrapException.userFacing(e).getMessage}); put the store's connector (e.g. hadoop-aws for s3a://) " +
          "on the driver's and executors' classpath")
      }
    } else {
      val local = Paths.get(plain).toAbsolutePath.normalize()
      // not Path(local.toUri): a directory's URI ends in "/", which would show in every message naming it
      Location(FileSystem.getLocal(hadoopConfiguration).getRawFileSystem, new Path(new URI("file", null, local.toString, null)))
    }
  }

  /** `path` as a full URL (file:/... for a local path). */
  def url(path: String): String = resolve(path).path.toString

  /**
   * Writes `files` (paths relative to `target`) as the directory `target`, whole or not at all: into a temporary
   * sibling with the manifest last, then on an atomic-rename store renamed into place (the previous directory set
   * aside and deleted), elsewhere copied into place once complete (the manifest again last).
   */
  def writeDirectory(target: Location, files: Seq[(String, Array[Byte])]): Unit = {
    restoreInterrupted(target)
    val staged = target.sibling(s".${target.name}.tmp-${UUID.randomUUID()}")
    try {
      files.foreach { case (name, bytes) => staged.child(name).write(bytes); WriteFaults.fileWritten() }
      staged.child(ManifestName).write(manifest(files.map { case (name, bytes) => name -> bytes.length.toLong }))
    } catch { case NonFatal(e) => staged.delete(); throw e }
    if (target.renamesAtomically) {
      try swapIn(staged, target) finally staged.delete()
    } else publish(staged, target)  // from here a failure leaves `staged` complete: restoreInterrupted finishes it
  }

  /**
   * Writes one file whole with `writer` (which creates the file it is given): a temporary sibling renamed into place
   * where renames are atomic (a local rename replaces the old file in one step; HDFS needs it deleted first); on an
   * object store the file appears only once its write is complete anyway.
   */
  def writeFile(target: Location, writer: Location => Unit): Unit = {
    target.fs.mkdirs(target.path.getParent)
    if (target.renamesAtomically) {
      val staged = target.sibling(s".${target.name}.tmp-${UUID.randomUUID()}")
      try {
        writer(staged)
        if (!target.fs.rename(staged.path, target.path)) {
          target.fs.delete(target.path, false)
          rename(staged, target)
        }
      } finally staged.fs.delete(staged.path, false)
    } else writer(target)
  }

  /**
   * The complete copy of the directory `target` (None if there is none): `target` itself when whole, else, on a
   * store without atomic rename, the newest complete save to it that was interrupted while being copied into place.
   * Puts back a directory an interrupted save set aside (atomic-rename stores), as every reader and writer does.
   */
  def complete(target: Location): Option[Location] = {
    if (target.renamesAtomically) {
      restoreInterrupted(target)
      Some(target).filter(_.isDirectory)
    } else Some(target).filter(isComplete).orElse(newestComplete(target))
  }

  /** A directory whose manifest lists files that are all there, at their sizes. */
  def isComplete(dir: Location): Boolean = dir.child(ManifestName).isFile && (try {
    listedFiles(dir).forall { case (name, size) => dir.child(name).isFile && BigInt(dir.child(name).size) == size }
  } catch { case NonFatal(_) => false })

  /** Why a directory cannot be read, for error messages. */
  def incomplete(target: Location): String =
    if (!target.exists) "no such directory"
    else s"it has no complete $ManifestName (a save to it is running or was interrupted): on " +
      s"${target.fs.getUri.getScheme}:// bigwrap reads only directories whose manifest was written last"

  private def manifest(files: Seq[(String, Long)]): Array[Byte] = JsonMethods.compact(JObject(
    "format" -> JString("bigwrap.manifest"), "version" -> JInt(1),
    "files" -> JArray(files.map { case (name, size) => JObject("path" -> JString(name), "size" -> JInt(size)) }.toList)))
    .getBytes("UTF-8")

  /** The files `dir`'s manifest lists, with their sizes. */
  private def listedFiles(dir: Location): Seq[(String, Any)] =
    (JsonMethods.parse(new String(dir.child(ManifestName).readBytes(), "UTF-8")) \ "files").children
      .map(f => ((f \ "path").values.toString, (f \ "size").values))

  private def interrupted(target: Location, kind: String): Seq[Location] =
    Location(target.fs, target.path.getParent).children.filter(_.name.startsWith(s".${target.name}.$kind-"))

  private def newestComplete(target: Location): Option[Location] =
    Some(interrupted(target, "tmp").filter(isComplete)).filter(_.nonEmpty).map(_.maxBy(_.child(ManifestName).modified))

  /** The previous directory, set aside, then the staged one in its place: at no moment is neither whole. */
  private def swapIn(staged: Location, target: Location): Unit = {
    if (target.exists) {
      val old = target.sibling(s".${target.name}.old-${UUID.randomUUID()}")
      rename(target, old)
      WriteFaults.betweenRenames()
      rename(staged, target)
      old.delete()
    } else {
      target.fs.mkdirs(target.path.getParent)
      rename(staged, target)
    }
  }

  private def rename(from: Location, to: Location): Unit =
    BigwrapException.require(from.fs.rename(from.path, to.path), s"could not rename $from to $to")

  /** Copies the complete `staged` over `target` (target's manifest first out, staged's manifest last in). */
  private def publish(staged: Location, target: Location): Unit = {
    target.child(ManifestName).delete()
    target.delete()
    (listedFiles(staged).map(_._1) :+ ManifestName).foreach { name =>
      target.child(name).write(staged.child(name).readBytes())
    }
    staged.delete()
  }

  /**
   * Finishes what an interrupted save left: on an atomic-rename store the previous directory back in place if the
   * save was killed between its two renames; elsewhere the newest complete staged save copied into place.
   */
  def restoreInterrupted(target: Location): Unit = if (target.renamesAtomically) {
    if (!target.exists) {
      val aside = interrupted(target, "old")
      if (aside.nonEmpty) target.fs.rename(aside.maxBy(_.modified).path, target.path)
    }
  } else if (!isComplete(target)) newestComplete(target).foreach(publish(_, target))

  /**
   * A local copy of the file, or of the complete directory, at `path`, in a new temporary directory: how readers of
   * local files (importers, Python's checkpoint reader) read any store. Returns the copy's local path.
   */
  def fetch(path: String): String = {
    val source = resolve(path)
    BigwrapException.require(source.exists, s"cannot read $source: the path does not exist")
    val found = if (source.isFile) Some(source) else complete(source)
    val from = found.getOrElse(throw BigwrapException.valueError(s"cannot read $source: ${incomplete(source)}"))
    val local = java.nio.file.Files.createTempDirectory("bigwrap-fetched-")
    from.fs.copyToLocalFile(false, from.path, new Path(local.toUri), true)
    local.resolve(from.name).toString
  }

  /** Copies the local file `localFile` to `path` whole; an existing file there is replaced only with `overwrite`. */
  def put(localFile: String, path: String, overwrite: Boolean): Unit = {
    val target = resolve(path)
    BigwrapException.require(overwrite || !target.exists, s"$target already exists; pass overwrite=True " +
      "(Scala: overwrite = true) to replace it")
    writeFile(target, (to: Location) => to.fs.copyFromLocalFile(false, true, new Path(Paths.get(localFile).toUri), to.path))
  }
}

/** Faults a test injects into the next atomic write (api.TestHooks), so that "nothing saved is lost" is tested on the real path. */
object WriteFaults {
  @volatile private var failAfterFiles: Option[(Int, String)] = None
  @volatile private var haltBetweenRenames = false
  def failAfter(files: Int, message: String): Unit = failAfterFiles = Some((files, message))
  def haltNextBetweenRenames(): Unit = haltBetweenRenames = true
  private[io] def fileWritten(): Unit = failAfterFiles.foreach { case (left, message) =>
    failAfterFiles = if (left > 1) Some((left - 1, message)) else None
    if (left <= 1) throw new java.io.IOException(message)
  }
  private[io] def betweenRenames(): Unit = if (haltBetweenRenames) Runtime.getRuntime.halt(9)
}
