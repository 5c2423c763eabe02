// Writes tests/data/offsets/three-entries.dat the way Kafka Connect's FileOffsetBackingStore.save
// does (ObjectOutputStream of a HashMap<byte[], byte[]>): two connectors' offsets and a deleted
// (null) one. Run: java MakeOffsets.java three-entries.dat
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

public class MakeOffsets {
    static byte[] b(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    public static void main(String[] args) throws Exception {
        Map<byte[], byte[]> raw = new HashMap<>();
        raw.put(b("[\"inventory\",{\"server\":\"shop\"}]"),
                b("{\"lsn_proc\":37417496,\"messageType\":\"COMMIT\",\"lsn_commit\":37417496,\"lsn\":37417496,\"txId\":771,\"ts_usec\":1700000000000000}"));
        raw.put(b("[\"billing\",{\"server\":\"billing\"}]"),
                b("{\"lsn_proc\":37500000,\"lsn_events_processed\":3,\"messageType\":\"INSERT\",\"lsn_commit\":37400000,\"lsn\":37500000,\"txId\":780,\"ts_usec\":1700000000000001}"));
        raw.put(b("[\"retired\",{\"server\":\"retired\"}]"), null);
        try (ObjectOutputStream os = new ObjectOutputStream(Files.newOutputStream(Path.of(args[0])))) {
            os.writeObject(raw);
        }
    }
}
