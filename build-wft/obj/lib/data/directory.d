build-wft/obj/lib/data/directory.o: lib/data/directory.c \
 lib/data/directory.h lib/proto/addr.h lib/base/buf.h \
 /usr/include/sqlcipher/sqlite3.h lib/data/dirindex.h lib/base/hex.h \
 lib/base/mem.h lib/base/rnd.h lib/base/timeutil.h
lib/data/directory.h:
lib/proto/addr.h:
lib/base/buf.h:
/usr/include/sqlcipher/sqlite3.h:
lib/data/dirindex.h:
lib/base/hex.h:
lib/base/mem.h:
lib/base/rnd.h:
lib/base/timeutil.h:
