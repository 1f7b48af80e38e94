build-dev/obj/sandbox/sandbox.o: sandbox/sandbox.c sandbox/sandbox_int.h \
 sandbox/sandbox.h /usr/include/sqlcipher/sqlite3.h lib/base/fmt.h \
 lib/sys/log.h lib/sys/tls.h
sandbox/sandbox_int.h:
sandbox/sandbox.h:
/usr/include/sqlcipher/sqlite3.h:
lib/base/fmt.h:
lib/sys/log.h:
lib/sys/tls.h:
