# netauth portal strings: Portuguese (português).
# Machine-made translation (not yet reviewed by a native speaker); corrections welcome.

language-name = Português
language = Idioma

auth-required-title = Autenticação de rede necessária
auth-required-text = Precisa de iniciar sessão em { $venue } antes de poder usar a rede.
sign-in = Iniciar sessão
sign-in-required = Início de sessão necessário
sign-in-to-use = Inicie sessão para usar esta rede

why-quota = O seu volume de dados esgotou-se. Inicie sessão novamente para continuar.
why-expired = O tempo da sua sessão terminou. Inicie sessão novamente para continuar.
why-idle = A sua sessão terminou porque o dispositivo estava inativo. Inicie sessão novamente para continuar.
why-operator = A sua sessão foi terminada pelo operador da rede.
why-moved = A sua sessão passou para outro endereço do seu dispositivo (o mesmo voucher iniciou sessão a partir de um novo endereço). Inicie sessão novamente para continuar aqui.

login-title = Iniciar sessão em { $venue }
welcome = Bem-vindo a { $venue }
default-terms = Ao ligar-se, aceita usar esta rede de forma legal e respeitosa. O operador pode registar o endereço de hardware do seu dispositivo e a hora da sua sessão, e pode terminar sessões a qualquer momento.
terms-heading = Termos de utilização
username = Nome de utilizador
password = Palavra-passe
voucher-code = Código do voucher
accept-connect = Aceitar e ligar
login-expired = Esta página tinha expirado. Tente novamente.
login-device-limit = Esta conta já tem sessão iniciada em tantos dispositivos quantos são permitidos.
login-invalid-voucher = Código de voucher inválido.
login-invalid-credentials = Nome de utilizador ou palavra-passe inválidos.

status-title = Estado da sessão
online-title = Está online
online-text = O seu dispositivo ({ $mac }) tem sessão iniciada em { $venue }.
time-left = Tempo restante:
data-left = Dados restantes:
randomized-note = O seu dispositivo usa um endereço privado (aleatório) nesta rede. Se sair da rede e voltar a entrar, pode usar um novo endereço e pedir-lhe para iniciar sessão novamente.
log-out = Terminar sessão
not-signed-in-title = Sem sessão iniciada
not-signed-in-text = O seu dispositivo não tem sessão iniciada em { $venue }.
signed-out-title = Sessão terminada
signed-out-text = O seu dispositivo já não tem sessão iniciada em { $venue }.
sign-in-again = Iniciar sessão novamente

error-not-on-lan-title = Dispositivo não reconhecido
error-not-on-lan = Esta página só pode ser usada a partir de um dispositivo ligado à rede de convidados. Se estiver ligado, volte a ligar-se à rede e tente novamente.
error-ambiguous-title = Tente novamente
error-ambiguous = Não conseguimos saber de que dispositivo veio este pedido. Tente novamente.
error-forged-title = Página expirada
error-forged = Este formulário expirou ou não foi enviado a partir da página de início de sessão desta rede. Volte atrás, recarregue a página e tente novamente.
error-not-accepted-title = Termos não aceites
error-not-accepted = Volte atrás e aceite os termos de utilização para se ligar.
error-full-title = Rede cheia
error-full = A rede não pode aceitar mais dispositivos neste momento. Tente novamente mais tarde.
error-auth-unavailable-title = Início de sessão indisponível
error-auth-unavailable = O serviço de início de sessão não está a responder. Tente novamente dentro de um minuto.
error-internal-title = Algo correu mal
error-internal = Tente novamente.
error-end-not-recorded-title = Sessão terminada
error-end-not-recorded = O seu dispositivo terminou a sessão, mas a rede ainda não conseguiu registá-lo.
error-store-title = Início de sessão indisponível
error-store = A rede não consegue registar inícios de sessão neste momento. Tente novamente dentro de um minuto.
error-session-title = Algo correu mal
error-session = Não foi possível iniciar sessão no seu dispositivo. Tente novamente.
error-grant-refused-title = Início de sessão recusado
error-grant-refused = Não foi possível confirmar o início de sessão: foi alterado, tinha expirado, já foi usado ou destinava-se a outro dispositivo. Comece novamente.
error-not-found-title = Não encontrado
error-not-found = Esta página não existe neste portal.
