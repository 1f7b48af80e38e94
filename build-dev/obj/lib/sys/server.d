build-dev/obj/lib/sys/server.o: lib/sys/server.c lib/sys/server.h \
 lib/sys/conf.h sandbox/sandbox.h /usr/include/sqlcipher/sqlite3.h \
 lib/sys/conn.h lib/sys/io.h lib/base/buf.h lib/sys/log.h lib/sys/tls.h \
 lib/base/timeutil.h
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
/usr/include/sqlcipher/sqlite3.h:
lib/sys/conn.h:
lib/sys/io.h:
lib/base/buf.h:
lib/sys/log.h:
lib/sys/tls.h:
lib/base/timeutil.h:
