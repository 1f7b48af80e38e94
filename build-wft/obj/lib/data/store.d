build-wft/obj/lib/data/store.o: lib/data/store.c lib/data/store.h \
 /usr/include/sqlcipher/sqlite3.h lib/base/buf.h lib/crypto/age.h \
 lib/base/hex.h lib/sys/log.h lib/base/mem.h lib/proto/msgtext.h \
 lib/base/rnd.h lib/data/spool.h
lib/data/store.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/buf.h:
lib/crypto/age.h:
lib/base/hex.h:
lib/sys/log.h:
lib/base/mem.h:
lib/proto/msgtext.h:
lib/base/rnd.h:
lib/data/spool.h:
