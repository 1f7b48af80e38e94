build-dev/obj/handlers/pop3d/main.o: handlers/pop3d/main.c \
 lib/login/login.h lib/sys/conf.h lib/sys/conn.h lib/base/buf.h \
 lib/sys/io.h lib/sys/server.h lib/sys/conf.h sandbox/sandbox.h \
 lib/sys/title.h lib/sys/tunables.h handlers/pop3d/pop3d.h \
 lib/proto/pop3parse.h
lib/login/login.h:
lib/sys/conf.h:
lib/sys/conn.h:
lib/base/buf.h:
lib/sys/io.h:
lib/sys/server.h:
lib/sys/conf.h:
sandbox/sandbox.h:
lib/sys/title.h:
lib/sys/tunables.h:
handlers/pop3d/pop3d.h:
lib/proto/pop3parse.h:
