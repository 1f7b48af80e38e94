build-dev/obj/lib/crypto/kdf_hugepages.o: lib/crypto/kdf_hugepages.c \
 lib/crypto/kdf_hugepages.h
lib/crypto/kdf_hugepages.h:
